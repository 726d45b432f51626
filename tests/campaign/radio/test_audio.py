"""Audio files of spots, pure: the format from the content, measured length and loudness, the voice note.

Every file here is a SYNTHETIC tone made by `write_synthetic_tone`, never a recording of a person.
"""

from __future__ import annotations

import av
import pytest

from campaign.core.errors import Invalid
from campaign.radio.audio import is_voice_note, probe, sniff_format, write_synthetic_tone, write_voice_note


@pytest.mark.parametrize("fmt", ["wav", "mp3", "m4a", "ogg"])
def test_each_format_is_measured_and_becomes_an_ogg_opus_voice_note_of_the_same_length(tmp_path, fmt):
    source = write_synthetic_tone(tmp_path / f"synthetic.{fmt}", seconds=4.0, fmt=fmt)
    info = probe(source)
    assert info.format == fmt
    assert info.seconds == pytest.approx(4.0, abs=0.06)  # AAC adds its priming samples
    assert -20 < info.lufs < -12 and -16 < info.peak_dbfs < -6 and info.rms_dbfs < info.peak_dbfs
    assert is_voice_note(info) is (fmt == "ogg")
    target = tmp_path / "voice.ogg"
    write_voice_note(source, target)
    with av.open(str(target)) as container:  # PyAV itself reads the result
        assert container.format.name == "ogg"
        stream = container.streams.audio[0]
        context = stream.codec_context
        assert (context.name, context.channels, stream.sample_rate) == ("opus", 1, 48000)
        samples = sum(frame.samples for frame in container.decode(stream))
    assert samples / 48000 == pytest.approx(info.seconds, abs=0.03)
    assert probe(target).seconds == pytest.approx(info.seconds, abs=0.03)


def test_the_format_comes_from_the_content_not_the_name(tmp_path):
    wav = write_synthetic_tone(tmp_path / "synthetic.wav", seconds=1.0)
    wav_named_mp3 = wav.rename(tmp_path / "tono.mp3")
    assert probe(wav_named_mp3).format == "wav"
    assert sniff_format(b"just some text") is None
    text = tmp_path / "notes.mp3"
    text.write_text("synthetic: not audio at all", encoding="utf-8")
    with pytest.raises(Invalid, match="notes.mp3: is not an MP3, OGG/Opus, WAV or M4A audio file"):
        probe(text)
    damaged = tmp_path / "damaged.ogg"
    damaged.write_bytes(b"OggS" + bytes(range(256)) * 20)
    with pytest.raises(Invalid, match="damaged.ogg: cannot be decoded as OGG audio"):
        probe(damaged)
