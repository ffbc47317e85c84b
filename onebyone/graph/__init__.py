"""A model as a torch.fx graph: tracing it (`trace.TracedModel`), what each layer computes
(`layer_kinds`), and functional heads (`F.linear`, `x @ W`) lifted into modules."""
