-- Ownership is a column, not read from the last writer: an instance belongs to host_id.
-- Release verdicts answer to one rollout generation (the env change that started it), so a
-- rollback or retry supersedes an old verdict without deleting a replicated row.
ALTER TABLE instances ADD COLUMN host_id VARCHAR NOT NULL DEFAULT '';
UPDATE instances SET host_id = origin;
CREATE INDEX ix_instances_host_id ON instances (host_id);
ALTER TABLE release_states ADD COLUMN change_id VARCHAR;
ALTER TABLE envs ADD COLUMN current_change_id VARCHAR;
-- rows_since(origin, hlc) reads one origin's rows in stamp order, for every replicated table.
CREATE INDEX ix_orgs_origin_hlc ON orgs (origin, hlc);
CREATE INDEX ix_projects_origin_hlc ON projects (origin, hlc);
CREATE INDEX ix_apps_origin_hlc ON apps (origin, hlc);
CREATE INDEX ix_envs_origin_hlc ON envs (origin, hlc);
CREATE INDEX ix_tokens_origin_hlc ON tokens (origin, hlc);
CREATE INDEX ix_config_versions_origin_hlc ON config_versions (origin, hlc);
CREATE INDEX ix_secret_bundles_origin_hlc ON secret_bundles (origin, hlc);
CREATE INDEX ix_secret_versions_origin_hlc ON secret_versions (origin, hlc);
CREATE INDEX ix_releases_origin_hlc ON releases (origin, hlc);
CREATE INDEX ix_env_changes_origin_hlc ON env_changes (origin, hlc);
CREATE INDEX ix_scales_origin_hlc ON scales (origin, hlc);
CREATE INDEX ix_events_origin_hlc ON events (origin, hlc);
CREATE INDEX ix_instances_origin_hlc ON instances (origin, hlc);
CREATE INDEX ix_release_states_origin_hlc ON release_states (origin, hlc);
CREATE INDEX ix_volumes_origin_hlc ON volumes (origin, hlc);
CREATE INDEX ix_volume_snapshots_origin_hlc ON volume_snapshots (origin, hlc);
CREATE INDEX ix_endpoints_origin_hlc ON endpoints (origin, hlc);
CREATE TABLE replication_marks (
	origin VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	PRIMARY KEY (origin)
);
