-- 0010: config and secret versions keep only what they changed (platd/spec/layers.py).
-- A version with no base_id holds the whole set (every version written before this one does);
-- a version with a base_id holds the keys it set (values_json / ciphertext) and, for config,
-- the keys it removed (unset_json).

ALTER TABLE config_versions ADD COLUMN base_id VARCHAR;
ALTER TABLE config_versions ADD COLUMN unset_json VARCHAR NOT NULL DEFAULT '[]';
ALTER TABLE secret_versions ADD COLUMN base_id VARCHAR;
