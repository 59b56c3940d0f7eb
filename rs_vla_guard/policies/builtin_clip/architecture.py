"""The built-in dual encoder's architecture: a tiny ``CLIPModel`` (ViT on 64 x 64 inputs, a 2-layer text
transformer), its word-level tokenizer and its image processor. Building only; training is in :mod:`rs_vla_guard.training`."""
from __future__ import annotations

IMAGE_SIZE = 64
PROMPT_TEMPLATE = "{instruction} : {action}"  # each action's prompt; saved beside the weights (dual_encoder.json)
LIGHTING_PROMPTS = ("a photo in daylight", "a photo at night")
SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>"]
WORDS = ("go to the a block move drive head for red green blue yellow purple white orange black forward turn "
         "left right stop : , . photo in daylight at night of").split()


def build_tokenizer():
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + WORDS)}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    # CLIP's text model pools the hidden state at the end-of-text token: every prompt ends with one.
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>",
                                                             special_tokens=[("<s>", 2), ("</s>", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", model_max_length=32, padding_side="right")


def build_image_processor():
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    # Squash to a square instead of crop: the task's decision borders are fractions of the full width.
    return CLIPImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, do_center_crop=False,
                                 image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25])


def build_model(tokenizer, seed: int = 0):
    import torch
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=32, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(image_size=IMAGE_SIZE, patch_size=8, hidden_size=96, intermediate_size=192,
                           num_hidden_layers=3, num_attention_heads=4),
        projection_dim=48,
    )
    return CLIPModel(config)
