"""Export to and import from other frameworks.

- :mod:`fastnn.interop.onnx`: :func:`~fastnn.interop.onnx.to_onnx` (also
  ``fastnn.to_onnx``) and :func:`~fastnn.interop.onnx.register_skl2onnx`
  (skl2onnx converters for the estimators); needs the ``onnx`` extra.
- :mod:`fastnn.interop.torch`: :func:`~fastnn.interop.torch.to_torch` and
  :func:`~fastnn.interop.torch.from_torch` (also ``Sequential.to_torch`` /
  ``Sequential.from_torch``); needs PyTorch.

Nothing here is imported by ``import fastnn``; each submodule imports its
framework only when a function of it is called.
"""
