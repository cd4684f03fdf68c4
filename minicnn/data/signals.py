"""Signals: a procedural dataset of multichannel 1-D signals in six classes (for 1-D convolutions).

Each sample is one source waveform of length L recorded by C sensors, as by a row of microphones:
sensor c hears the source with its own gain and delay, plus its own white noise. The classes are
the kind of source:

    tone         a sinusoid sin(2 pi f t + phase)
    chirp        a sinusoid whose frequency sweeps linearly from f0 to f1 (up or down)
    noise_burst  white noise under a smooth window (a Hann window of random position and width)
    square       a square wave of frequency f (sign of a sinusoid: odd harmonics)
    sawtooth     a sawtooth wave of frequency f (every harmonic)
    pulses       a train of short pulses, one every 1 / f

Frequencies are drawn in 3..16 cycles per window (a chirp ends at 1.6..3 times or 1/3..1/1.6
times its start), amplitudes in 0.5..1, per-sensor gains in 0.5..1 and delays in 0..L/16
samples, noise standard deviation 0.15..0.45. Tone, square and sawtooth share their fundamental
and differ only in their harmonics, a chirp resembles a tone over a short stretch, a burst
hides among the sensor noise: telling them apart needs the shape of the wave over several
periods, not one sample.

Reproducibility: the samples come from one numpy Generator seeded with (seed, split), drawn in a
fixed order; the same seed gives the same bytes on a given platform (the waveforms use np.sin,
whose last bit may differ between maths libraries).
"""
from __future__ import annotations

import numpy as np

from ..functional.checks import is_int
from .dataset import ImageDataset, generated_stream

SIGNAL_CLASSES = ("tone", "chirp", "noise_burst", "square", "sawtooth", "pulses")
DEFAULT_SIZES = {"train": 3000, "test": 600}


def waveforms(generator: np.random.Generator, labels: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The clean source of each sample, (n, L + margin), at the times t (in windows, from 0)."""
    n = len(labels)
    f = generator.uniform(3.0, 16.0, size=(n, 1))
    # a chirp ends 1.6 to 3 times higher or lower than it starts: never nearly a tone
    ratio = generator.uniform(1.6, 3.0, size=(n, 1))
    f_end = np.where(generator.uniform(size=(n, 1)) < 0.5, f * ratio, f / ratio)
    phase = generator.uniform(0.0, 1.0, size=(n, 1))
    amplitude = generator.uniform(0.5, 1.0, size=(n, 1))
    centre, spread = generator.uniform(0.2, 0.8, size=(n, 1)), generator.uniform(0.15, 0.4, size=(n, 1))
    burst = generator.standard_normal(size=(n, len(t)))
    cycles = f * t + phase  # the phase in cycles of a constant-frequency wave
    # a linear sweep of the instantaneous frequency from f to f_end: the phase is its integral
    sweep = f * t + (f_end - f) * t * t / 2 + phase
    hann = np.where(np.abs(t - centre) < spread, 0.5 + 0.5 * np.cos(np.pi * (t - centre) / spread), 0.0)
    fraction = cycles - np.floor(cycles)
    sources = np.stack([
        np.sin(2 * np.pi * cycles),
        np.sin(2 * np.pi * sweep),
        burst * hann * 1.4,
        np.where(fraction < 0.5, 1.0, -1.0),
        2 * fraction - 1,
        np.where(fraction < 0.12, 1.0, 0.0) * 2 - 0.24,  # pulses of 12 % duty, zero mean
    ])
    return amplitude * sources[labels, np.arange(n)]


def make_signals(num_samples: int, length: int = 256, channels: int = 3, seed: int = 0,
                 split: str = "train") -> tuple:
    """(signals (N, channels, length) float32, labels (N,) int64) for this seed and split.
    The classes are balanced to within one sample."""
    if not is_int(length) or length < 16:
        raise ValueError(f"Signals: length must be an integer >= 16, got {length!r}")
    if not is_int(channels) or channels < 1:
        raise ValueError(f"Signals: channels must be a positive integer, got {channels!r}")
    generator = generated_stream("Signals", num_samples, seed, split, 1)
    labels = generator.permutation(np.arange(num_samples) % len(SIGNAL_CLASSES))
    margin = length // 16  # room for the largest sensor delay
    t = np.arange(length + margin) / length
    source = waveforms(generator, labels, t)
    gain = generator.uniform(0.5, 1.0, size=(num_samples, channels, 1))
    delay = generator.integers(0, margin + 1, size=(num_samples, channels))
    noise = generator.uniform(0.15, 0.45, size=(num_samples, 1, 1))
    window = delay[:, :, None] + np.arange(length)  # sensor c hears the source `delay` samples late
    heard = np.take_along_axis(source[:, None, :], window, axis=2)
    signals = gain * heard + noise * generator.standard_normal(size=(num_samples, channels, length))
    return signals.astype(np.float32), labels.astype(np.int64)


class Signals(ImageDataset):
    """Six classes of 1-D waveforms heard by `channels` noisy sensors (see the module docstring).

    num_samples (default 3,000 for split="train", 600 for "test"), length L, channels C, seed and
    split pick the samples. `signals` (N, C, L) float32 (zero-mean waveforms of amplitude <= 1
    plus noise, not scaled to [0, 1]), also reachable as `images` so that the DataLoader and the
    training command treat it like any image dataset; `labels` (N,) int64; `classes` the names.
    dataset[i] is (signal (C, L), label), the signal passed through `transform` if one is given.
    """

    def __init__(self, num_samples=None, length=256, channels=3, seed=0, split="train", transform=None):
        if num_samples is None:
            num_samples = DEFAULT_SIZES.get(split, 0)
        signals, labels = make_signals(num_samples, length, channels, seed, split)
        super().__init__(signals, labels, SIGNAL_CLASSES, transform)

    @property
    def signals(self) -> np.ndarray:
        return self.images
