"""``deepscope describe``: resolve a model and data SPEC and report what they are (a dry run).

It loads the data set, builds or loads the model (with the data's input shape and class count
for zoo models), runs one forward pass on a few training samples to check that the two fit, and
returns human-readable lines. Bad specs raise :class:`~deepscope.errors.UserInputError`.
"""

from __future__ import annotations

from .errors import UserInputError


def describe(model_spec: str | None, data_spec: str | None, *, seed: int = 0) -> list[str]:
    """Lines describing the resolved data set and model, and whether they fit together."""
    lines: list[str] = []
    dataset = None
    if data_spec is not None:
        from .data import load

        dataset = load(data_spec, seed=seed)
        lines += [
            f"data: {dataset.name} ({dataset.task}"
            + (f", {dataset.n_classes} classes" if dataset.n_classes else "") + ")",
            f"  train: X {tuple(dataset.X_train.shape)} {dataset.X_train.dtype}, "
            f"y {tuple(dataset.y_train.shape)} {dataset.y_train.dtype}",
            f"  test:  X {tuple(dataset.X_test.shape)}, y {tuple(dataset.y_test.shape)}",
        ]
    if model_spec is not None:
        import torch

        from .models import normalize_name, resolve_model

        kwargs = {}
        head = model_spec.partition("@")[0].partition(":")[0]
        if dataset is not None and normalize_name(head) is not None:
            kwargs = {"input_shape": dataset.input_shape, "n_classes": dataset.n_classes,
                      "seed": seed}
        model = resolve_model(model_spec, **kwargs)
        params = [(name, p) for name, p in model.named_parameters()]
        n_params = sum(p.numel() for _, p in params)
        n_train = sum(p.numel() for _, p in params if p.requires_grad)
        lines.append(f"model: {type(model).__name__} from {model_spec!r}")
        lines.append(f"  parameters: {n_params:,} ({n_train:,} trainable)")
        for name, p in params:
            lines.append(f"    {name}: {tuple(p.shape)}")
        if dataset is not None:
            x = torch.as_tensor(dataset.X_train[:4])
            dtype = next((p.dtype for _, p in params), torch.float32)
            try:
                with torch.no_grad():
                    out = model.eval()(x if not x.is_floating_point() else x.to(dtype))
            except Exception as exc:  # the model and the data do not fit
                raise UserInputError(
                    f"model {model_spec!r} cannot take inputs of shape "
                    f"{tuple(dataset.X_train.shape[1:])} from {data_spec!r}: {exc}"
                ) from None
            lines.append(f"  forward on 4 samples: output {tuple(out.shape)}")
    return lines
