"""PNG info: the generation parameters a PNG carries (this server's, AUTOMATIC1111/Forge infotext,
ComfyUI's graph, InvokeAI's metadata), mapped onto the native API's fields. `chunks` reads the text
chunks within bounds, one module per source format maps them, `reader` picks the format."""
