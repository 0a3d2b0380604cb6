"""The seven loops of a learning cycle, one module each (analytics: loops 3 and 4)."""
