"""The gpt-oss model: config, MXFP4 weights, layers and the module itself."""
