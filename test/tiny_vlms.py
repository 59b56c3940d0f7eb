"""Tiny, randomly initialised VLMs of two real architectures, built from configs and saved to disk.

Tests load them back through the same ``from_pretrained`` path real models take. They share the
built-in policy's word-level vocabulary so no tokenizer download is needed.
"""
import torch

from rs_vla_guard.policies.builtin import architecture as builtin
from rs_vla_guard.policies.builtin_tokens import architecture as tokens_arch


def save_tiny_llava(path, *, blind=False, seed=1):
    """A LLaVA (CLIP + Llama) with hidden size 32. ``blind`` zeroes the projector: output ignores the image."""
    tokenizer = builtin.build_tokenizer()
    processor = builtin.build_processor(tokenizer)
    model = builtin.build_model(tokenizer, seed=seed)
    if blind:
        with torch.no_grad():
            for parameter in model.model.multi_modal_projector.parameters():
                parameter.zero_()
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def save_tiny_idefics3(path, seed=2):
    """An Idefics3 (SigLIP-style vision + pixel shuffle + Llama), 32x32 images, patch 8, scale factor 2."""
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = builtin.build_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fake_token_around_image>", "<image>",
                                                                "<end_of_utterance>", "<global-img>"]})
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False, size={"longest_edge": 32}, max_image_size={"longest_edge": 32},
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    chat_template = (
        "{% for message in messages %}User:{% for part in message['content'] %}"
        "{% if part['type'] == 'image' %}<image>{% else %} {{ part['text'] }}{% endif %}{% endfor %}"
        "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}"
    )
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=chat_template)
    torch.manual_seed(seed)
    config = Idefics3Config(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        text_config=dict(model_type="llama", hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, vocab_size=len(tokenizer),
                         max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id),
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


# ---------------------------------------------------------------- action-token models (OpenVLA style)


def save_tiny_llava_with_action_tokens(path, seed=3):
    tokenizer = tokens_arch.build_tokenizer()
    processor = tokens_arch.build_processor(tokenizer)
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(seed)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                       num_attention_heads=2, image_size=64, patch_size=16, projection_dim=32),
        text_config=LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=128,
                                pad_token_id=tokenizer.pad_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="full",
        vision_feature_layer=-1, image_seq_length=17)
    LlavaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def save_tiny_paligemma_with_action_tokens(path, seed=4):
    from transformers import PaliGemmaConfig, PaliGemmaForConditionalGeneration, PaliGemmaProcessor
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    tokenizer = tokens_arch.build_tokenizer()
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32}, image_mean=[0.5] * 3,
                                              image_std=[0.5] * 3)
    image_processor.image_seq_length = 4
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    torch.manual_seed(seed)
    config = PaliGemmaConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=16,
                           initializer_range=1.0),
        text_config=dict(model_type="gemma", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, vocab_size=len(tokenizer),
                         initializer_range=1.0),
        # large initial weights: at 0.02 a tiny Gemma answers the same token whatever the image
        projection_dim=32, image_token_id=tokenizer.convert_tokens_to_ids("<image>"), initializer_range=1.0)
    PaliGemmaForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def per_image_generate(policy, pixels, instruction):
    """The reference: transformers' own ``generate`` on one image at a time, full prompt, greedy over the action
    tokens only (``prefix_allowed_tokens_fn``), exactly D new tokens."""
    prepared = policy._prepare(instruction)
    allowed = list(range(policy.codec.first, policy.codec.vocab_end))
    dimensions = len(policy.action_names)
    rows = []
    for index in range(pixels.shape[0]):
        out = policy.model.generate(**prepared.expanded(1), pixel_values=policy._pixel_values(pixels[index:index + 1],
                                                                                            prepared),
                                    max_new_tokens=dimensions, min_new_tokens=dimensions, do_sample=False,
                                    prefix_allowed_tokens_fn=lambda batch, ids: allowed,
                                    pad_token_id=policy.tokenizer.pad_token_id)
        rows.append(out[0, prepared.prompt_length:])
    return torch.stack(rows)
