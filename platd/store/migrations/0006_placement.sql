-- Placement: which host runs each instance slot of a workload, as replicated desired state
-- (one row per env and workload, id "ENV_ID/WORKLOAD"), written by the host that accepted the
-- change. ``generation`` grows with every move, so a host back from an absence can tell its
-- old assignment from the one that replaced it. A drained host stays cordoned and keeps none.
CREATE TABLE assignments (
	id VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	origin VARCHAR NOT NULL,
	deleted BOOLEAN NOT NULL,
	env_id VARCHAR NOT NULL,
	workload VARCHAR NOT NULL,
	generation INTEGER NOT NULL,
	hosts_json VARCHAR NOT NULL,
	why_json VARCHAR NOT NULL,
	pending_json VARCHAR NOT NULL,
	updated_at FLOAT NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_assignments_hlc ON assignments (hlc);
CREATE INDEX ix_assignments_origin_hlc ON assignments (origin, hlc);
CREATE INDEX ix_assignments_env_id ON assignments (env_id);
ALTER TABLE hosts ADD COLUMN draining BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE scales ADD COLUMN placement_json VARCHAR;
