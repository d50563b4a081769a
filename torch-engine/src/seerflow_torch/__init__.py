"""seerflow's PyTorch training engine: SwAV + RegNetY built from the TypeScript side's spec (docs/torch-engine.md)."""
