"""The built-in policy's architecture: a tiny LLaVA (CLIP vision tower + Llama language model).

This file only *builds* an untrained model, its word-level tokenizer and its processor; training is
``python -m rs_vla_guard.training.builtin``, and the trained weights in ``rs_vla_guard/models/builtin``
are loaded like any other model, through ``AutoModelForImageTextToText.from_pretrained``.
"""
from __future__ import annotations

IMAGE_SIZE = 64
PATCH_SIZE = 16  # 16 image tokens + CLS: a third of the language model's sequence, ~3x faster decisions
HIDDEN_SIZE = 128
# The instruction comes before the image: in a causal language model, image tokens can then attend to
# the colour word, so each patch learns "am I the target?" (image-first prompts made a 2-layer model
# ignore the colour word on a sixth of the scenes).
PROMPT_TEMPLATE = "{instruction} <image> action :"
# The same prompt as a chat template, so the generic VLM adapter builds it like any other model's.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% for part in message['content'] %}{% if part['type'] != 'image' %}"
    "{{ part['text'] }} {% endif %}{% endfor %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<image> {% endif %}{% endfor %}{% endfor %}action :"
)
TEXT_LAYERS = 3
SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<image>"]
WORDS = (
    "go to the a block move drive head for find red green blue yellow purple white orange black "
    "forward turn left right stop . , : action please"
).split()


def build_tokenizer():
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + WORDS)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        extra_special_tokens={"image_token": "<image>"},
        model_max_length=128,
        padding_side="left",
    )


def build_processor(tokenizer=None):
    from transformers import LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tokenizer = tokenizer or build_tokenizer()
    # Squash to a square instead of crop: the task's decision borders are fractions of the full width.
    image_processor = CLIPImageProcessorPil(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        do_center_crop=False,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.25, 0.25, 0.25],
    )
    return LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=1,  # CLIP's CLS token, kept by the "full" strategy
        chat_template=CHAT_TEMPLATE,
    )


def build_model(tokenizer, seed: int = 0):
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        hidden_size=HIDDEN_SIZE, intermediate_size=4 * HIDDEN_SIZE, num_hidden_layers=2, num_attention_heads=4,
        image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=HIDDEN_SIZE,
    )
    text = LlamaConfig(
        hidden_size=HIDDEN_SIZE, intermediate_size=4 * HIDDEN_SIZE, num_hidden_layers=TEXT_LAYERS,
        num_attention_heads=4, num_key_value_heads=4, vocab_size=len(tokenizer), max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    config = LlavaConfig(
        vision_config=vision, text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="full", vision_feature_layer=-1,
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2 + 1, tie_word_embeddings=True,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model
