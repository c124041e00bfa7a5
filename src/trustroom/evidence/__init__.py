"""Parse and verify TEE evidence."""
