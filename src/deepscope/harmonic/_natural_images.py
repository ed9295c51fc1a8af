"""Natural-image statistics: dead-leaves images, whitening, phase randomisation, patches.

- :func:`dead_leaves` paints the scale-invariant occlusion model of Lee, Mumford & Huang 2001
  (``lee2001``): discs of uniform random grey level with radius density proportional to r^-3
  between ``r_min`` and ``r_max``, the first disc on top, until every pixel is covered
  (:func:`leaf_radii` draws the radii by the inverse CDF). Its power spectrum falls like natural
  images', and its edges are occlusion boundaries.
- :func:`whiten` applies Olshausen & Field's (1996, ``olshausen1996``) whitening and low-pass
  filter R(f) = f exp(-(f/f0)^4) (:func:`whitening_filter`; f0 = 200 cycles/picture on their
  512 x 512 images, :data:`NYQUIST_F0` of the Nyquist frequency) and scales to unit variance.
- :func:`phase_randomise` keeps an image's power spectrum and replaces its phases by those of white
  noise: a Gaussian image with the same second moments, the control without sparse structure.
- :func:`sample_patches` draws random p x p patches with their mean removed.

Pure numpy (numba compiles the painter on first use); randomness only from the caller's
``numpy.random.Generator``; no I/O.
"""

from __future__ import annotations

import numpy as np

NYQUIST_F0 = 200.0 / 256.0
"""O&F's whitening roll-off (200 cycles/picture on 512-pixel images) as a fraction of Nyquist."""

_PAINT = None


def _paint_kernel():
    global _PAINT
    if _PAINT is None:
        import numba

        @numba.njit(cache=False)
        def paint(size, cx, cy, r, g):
            img = np.full((size, size), np.nan)
            left = size * size
            for k in range(len(r)):
                x0, x1 = max(int(cx[k] - r[k]), 0), min(int(cx[k] + r[k]) + 1, size)
                y0, y1 = max(int(cy[k] - r[k]), 0), min(int(cy[k] + r[k]) + 1, size)
                for y in range(y0, y1):
                    dy = y + 0.5 - cy[k]
                    for x in range(x0, x1):
                        dx = x + 0.5 - cx[k]
                        if dx * dx + dy * dy <= r[k] * r[k] and np.isnan(img[y, x]):
                            img[y, x] = g[k]
                            left -= 1
                if left == 0:
                    return img, k + 1
            return img, len(r)

        _PAINT = paint
    return _PAINT


def leaf_radii(n: int, r_min: float, r_max: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` radii with density proportional to r^-3 on [r_min, r_max] (inverse CDF)."""
    a, b = r_min**-2, r_max**-2
    return (a - rng.random(n) * (a - b)) ** -0.5


def dead_leaves(size: int, r_min: float, rng: np.random.Generator, chunk: int = 20000):
    """A size x size dead-leaves image: discs of uniform grey, radius density ~ r^-3, the first
    disc on top, painted until every pixel is covered. Returns the image and the discs used."""
    paint = _paint_kernel()
    r = leaf_radii(chunk, r_min, size / 2, rng)
    cx, cy, g = rng.random(chunk) * size, rng.random(chunk) * size, rng.random(chunk)
    img, used = paint(size, cx, cy, r, g)
    while np.isnan(img).any():  # a further layer underneath the first
        r = leaf_radii(chunk, r_min, size / 2, rng)
        cx, cy, g = rng.random(chunk) * size, rng.random(chunk) * size, rng.random(chunk)
        under, more = paint(size, cx, cy, r, g)
        img = np.where(np.isnan(img), under, img)
        used += more
    return img, used


def whitening_filter(shape: tuple[int, int], f0: float = NYQUIST_F0) -> np.ndarray:
    """O&F's R(f) = f exp(-(f/f0)^4) on the FFT grid, f in units of the Nyquist frequency."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.fftfreq(shape[1])[None, :]
    f = np.sqrt(fx**2 + fy**2) / 0.5
    return f * np.exp(-((f / f0) ** 4))


def whiten(img: np.ndarray, f0: float = NYQUIST_F0) -> np.ndarray:
    """The image filtered by R(f) (zero mean) and scaled to unit pixel variance."""
    out = np.real(np.fft.ifft2(np.fft.fft2(img - img.mean()) * whitening_filter(img.shape, f0)))
    return out / out.std()


def phase_randomise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Same power spectrum, phases of white noise: a Gaussian image with the same 2nd moments."""
    noise = np.fft.fft2(rng.standard_normal(img.shape))
    return np.real(np.fft.ifft2(np.abs(np.fft.fft2(img)) * np.exp(1j * np.angle(noise))))


def sample_patches(images: list[np.ndarray], n: int, p: int, rng: np.random.Generator):
    """``n`` random p x p patches (rows, flattened), each with its mean removed."""
    which = rng.integers(len(images), size=n)
    out = np.empty((n, p * p))
    for k, im in enumerate(images):
        idx = np.flatnonzero(which == k)
        ys = rng.integers(im.shape[0] - p + 1, size=len(idx))
        xs = rng.integers(im.shape[1] - p + 1, size=len(idx))
        win = np.lib.stride_tricks.sliding_window_view(im, (p, p))
        out[idx] = win[ys, xs].reshape(len(idx), -1)
    return out - out.mean(axis=1, keepdims=True)
