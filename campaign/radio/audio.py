"""Audio files of radio spots: what a file really is, how long and loud it is, and its voice-note copy.

Files in, values or files out; no session, no clock. Everything goes through PyAV (FFmpeg's
libraries, bundled with libopus in its wheels), so no system package is needed.

- `sniff_format(head)`: the container from the file's first bytes, never from its name: `mp3`,
  `ogg`, `wav` or `m4a`; anything else is refused.
- `probe(path, name=...)`: decodes the whole first audio stream (at most `MAX_DECODE_SECONDS`) and
  measures it: duration from the decoded samples, peak and RMS in dBFS, and integrated loudness
  in LUFS (EBU R128 / ITU-R BS.1770, FFmpeg's `ebur128` filter), all on a mono 48 kHz mix.
  A file that does not decode, or holds no audio, raises Invalid naming the file.
- `write_voice_note(source, target)`: the OGG/Opus file WhatsApp plays as a voice note (mono,
  48 kHz, Opus in Ogg, 32 kbit/s); `is_voice_note(info)` says when the upload already is one.
- `write_synthetic_tone(path, ...)`: a SYNTHETIC test signal (sine tones), never a person's voice,
  for tests and the demo.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av
import numpy as np

from campaign.core.errors import Invalid
from campaign.core.i18n import _

FORMATS = ("mp3", "ogg", "wav", "m4a")
DEMUXERS = {"mp3": "mp3", "ogg": "ogg", "wav": "wav", "m4a": "mov"}
SUFFIXES = {"mp3": ".mp3", "ogg": ".ogg", "wav": ".wav", "m4a": ".m4a"}
VOICE_RATE = 48_000  # Opus's native rate; WhatsApp's voice notes are mono Opus in Ogg
VOICE_BITRATE = 32_000
MAX_DECODE_SECONDS = 600  # no spot is longer; a small file claiming hours is not decoded to the end
SILENCE_DB = -120.0  # what a silent file's peak and RMS read as (log of zero)


@dataclass(frozen=True)
class AudioInfo:
    """What a decoded file is: container, codec, channels and rate as stored; measured length and levels.

    `seconds` is decoded samples over the sample rate; `peak_dbfs` and `rms_dbfs` are over the
    mono mix (0 dBFS = full scale); `lufs` is integrated loudness (None when too short or silent
    for the R128 gate)."""

    format: str
    codec: str
    channels: int
    sample_rate: int
    seconds: float
    peak_dbfs: float
    rms_dbfs: float
    lufs: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sniff_format(head: bytes) -> str | None:
    """The container of a file from its first bytes (at least 12): mp3, ogg, wav, m4a, else None."""
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "m4a"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def _db(value: float) -> float:
    return round(20 * math.log10(value), 2) if value > 0 else SILENCE_DB


def _mono_frames(path: Path | BinaryIO, fmt: str, name: str) -> Iterator[tuple[Any, av.AudioFrame]]:
    """(stream, frame) for every frame of the first audio stream, resampled to mono float 48 kHz.
    `fmt` is one of DEMUXERS or, for audio in memory, any demuxer ffmpeg has (e.g. "amr")."""
    source = str(path) if isinstance(path, Path) else path
    try:
        with av.open(source, "r", format=DEMUXERS.get(fmt, fmt)) as container:
            if not container.streams.audio:
                raise Invalid(name, _("holds no audio"))
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=VOICE_RATE)
            for frame in container.decode(stream):
                for mono in resampler.resample(frame):
                    yield stream, mono
            for mono in resampler.resample(None):
                yield stream, mono
    except av.FFmpegError as exc:
        raise Invalid(name, _("cannot be decoded as %(format)s audio (the file is damaged or not what it "
                              "seems)", format=fmt.upper())) from exc


def _loudness_graph() -> tuple[Any, Any]:
    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=VOICE_RATE, layout="mono",
                               time_base=Fraction(1, VOICE_RATE))
    meter = graph.add("ebur128", "metadata=1")
    sink = graph.add("abuffersink")
    source.link_to(meter)
    meter.link_to(sink)
    graph.configure()
    return graph, sink


def _drain(graph: Any, found: dict[str, str]) -> None:
    while True:
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return
        found.update(frame.metadata)


def probe(path: Path, *, name: str | None = None) -> AudioInfo:
    """Measures the file at `path`; `name` is how errors call it (default: its file name).

    Raises Invalid(name, ...) for a file that is not MP3, OGG, WAV or M4A by its content, holds no
    audio, does not decode, or is longer than MAX_DECODE_SECONDS."""
    name = name or path.name
    with path.open("rb") as handle:
        head = handle.read(16)
    fmt = sniff_format(head)
    if fmt is None:
        raise Invalid(name, _("is not an MP3, OGG/Opus, WAV or M4A audio file (judged by its content, "
                              "not its name)"))
    graph, _sink = _loudness_graph()
    metadata: dict[str, str] = {}
    samples, peak, squares = 0, 0.0, 0.0
    codec, channels, rate = "", 0, 0
    pts = 0
    for stream, frame in _mono_frames(path, fmt, name):
        codec, channels, rate = stream.codec_context.name, stream.codec_context.channels, stream.sample_rate
        data = frame.to_ndarray().reshape(-1).astype(np.float64)
        if data.size == 0:
            continue
        samples += data.size
        peak = max(peak, float(np.max(np.abs(data))))
        squares += float(np.dot(data, data))
        frame.pts, pts = pts, pts + data.size
        frame.time_base = Fraction(1, VOICE_RATE)
        graph.push(frame)
        _drain(graph, metadata)
        if samples > MAX_DECODE_SECONDS * VOICE_RATE:
            raise Invalid(name, _("is longer than %(max)d s: not a radio spot", max=MAX_DECODE_SECONDS))
    if samples == 0:
        raise Invalid(name, _("holds no audio that can be decoded"))
    graph.push(None)
    _drain(graph, metadata)
    integrated = metadata.get("lavfi.r128.I")
    lufs = float(integrated) if integrated is not None else None
    if lufs is not None and (math.isinf(lufs) or math.isnan(lufs) or lufs <= -70):
        lufs = None  # below the R128 absolute gate: silence
    return AudioInfo(
        format=fmt,
        codec=codec,
        channels=channels,
        sample_rate=rate,
        seconds=round(samples / VOICE_RATE, 3),
        peak_dbfs=_db(peak),
        rms_dbfs=_db(math.sqrt(squares / samples)),
        lufs=None if lufs is None else round(lufs, 1),
    )


def is_voice_note(info: AudioInfo) -> bool:
    """True when the file already is what WhatsApp plays as a voice note: Opus in Ogg, mono, 48 kHz."""
    return (info.format, info.codec, info.channels, info.sample_rate) == ("ogg", "opus", 1, VOICE_RATE)


def _encode(frames: Iterator[av.AudioFrame], target: Path | BinaryIO, *, codec: str = "libopus",
            container: str = "ogg", rate: int = VOICE_RATE, bit_rate: int | None = VOICE_BITRATE) -> None:
    """Encodes mono float 48 kHz frames with `codec` into `target` (resampled to what the codec takes)."""
    with av.open(str(target) if isinstance(target, Path) else target, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)  # an audio codec gives an audio stream
        if bit_rate:
            stream.codec_context.bit_rate = bit_rate
        formats = stream.codec_context.codec.audio_formats or ()
        sample_format = formats[0].name if formats else "s16"
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate,
                                      frame_size=stream.codec_context.frame_size or None)
        for frame in [*frames, None]:
            for ready in resampler.resample(frame):
                ready.pts = None
                for packet in stream.encode(ready):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def write_voice_note(source: Path, target: Path, *, name: str | None = None) -> None:
    """Writes `source` (any accepted format) to `target` as an OGG/Opus voice note: mono, 48 kHz.

    Raises Invalid like `probe` for a file it cannot decode."""
    name = name or source.name
    with source.open("rb") as handle:
        fmt = sniff_format(handle.read(16))
    if fmt is None:
        raise Invalid(name, _("is not an MP3, OGG/Opus, WAV or M4A audio file (judged by its content, "
                              "not its name)"))
    _encode((frame for _stream, frame in _mono_frames(source, fmt, name)), target)


def voice_note_bytes(content: bytes, *, demuxer: str, name: str) -> bytes:
    """`content` (audio that ffmpeg's `demuxer` reads, e.g. "amr" for a feature phone's voice note)
    as OGG/Opus bytes a browser plays. In memory only: a contact's voice is never written to disk
    unencrypted. Raises Invalid(name, ...) when it cannot be decoded."""
    out = io.BytesIO()
    _encode((frame for _stream, frame in _mono_frames(io.BytesIO(content), demuxer, name)), out)
    return out.getvalue()


# container and codec of each synthetic format
SYNTHETIC = {
    "wav": ("wav", "pcm_s16le", None),
    "mp3": ("mp3", "libmp3lame", 64_000),
    "m4a": ("ipod", "aac", 64_000),
    "ogg": ("ogg", "libopus", VOICE_BITRATE),
}


def synthetic_samples(seconds: float, *, frequencies: tuple[float, ...] = (440.0, 660.0),
                      amplitude: float = 0.25, rate: int = VOICE_RATE) -> np.ndarray:
    """SYNTHETIC test signal, never a person's voice: the tones one after the other, each for an
    equal share of `seconds`, with 10 ms fades so they do not click. Float mono samples."""
    total = max(1, int(round(seconds * rate)))
    out = np.zeros(total, dtype=np.float32)
    edges = np.linspace(0, total, len(frequencies) + 1).astype(int)
    fade = min(int(0.01 * rate), total // 4)
    for frequency, start, end in zip(frequencies, edges[:-1], edges[1:], strict=True):
        t = np.arange(end - start) / rate
        tone = amplitude * np.sin(2 * np.pi * frequency * t)
        if fade and tone.size > 2 * fade:
            ramp = np.linspace(0.0, 1.0, fade)
            tone[:fade] *= ramp
            tone[-fade:] *= ramp[::-1]
        out[start:end] = tone
    return out


def write_synthetic_tone(path: Path, *, seconds: float, fmt: str = "wav",
                         frequencies: tuple[float, ...] = (440.0, 660.0), amplitude: float = 0.25) -> Path:
    """Writes a SYNTHETIC tone file (sine tones, no recording of any person) of `seconds` as `fmt`
    (wav, mp3, m4a or ogg: Opus) to `path`; returns `path`. For tests and the demo."""
    container, codec, bit_rate = SYNTHETIC[fmt]
    samples = synthetic_samples(seconds, frequencies=frequencies, amplitude=amplitude)
    step = 4800

    def frames() -> Iterator[av.AudioFrame]:
        for start in range(0, samples.size, step):
            frame = av.AudioFrame.from_ndarray(samples[start:start + step].reshape(1, -1), format="flt",
                                               layout="mono")
            frame.sample_rate = VOICE_RATE
            yield frame

    rate = 44_100 if fmt == "mp3" else VOICE_RATE
    _encode(frames(), path, codec=codec, container=container, rate=rate, bit_rate=bit_rate)
    return path
