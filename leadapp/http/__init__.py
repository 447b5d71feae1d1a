"""The request pipeline's steps, one module each; `pipeline.register_pipeline` orders them."""
