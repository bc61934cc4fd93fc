CREATE INDEX IF NOT EXISTS ix_outputs_batch_id ON outputs (batch_id);
