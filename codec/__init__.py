"""fpcodec's encoder/decoder pipeline, I/O and command line."""

from .pipeline import DecodedFrame, Decoder, Encoder, Video, decode, encode

__all__ = ["encode", "decode", "Encoder", "Decoder", "Video", "DecodedFrame"]
