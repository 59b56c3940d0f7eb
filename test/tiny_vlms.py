"""Tiny, randomly initialised VLMs of two real architectures, built from configs and saved to disk.

Tests load them back through the same ``from_pretrained`` path real models take. They share the
built-in policy's word-level vocabulary so no tokenizer download is needed.
"""
import torch

from rs_vla_guard.policies.builtin import architecture as builtin


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
