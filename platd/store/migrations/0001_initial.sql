-- 0001: the first schema of the state database. Generated once from platd/store/models.py;
-- later changes are new numbered files, never edits to this one.

CREATE TABLE apps (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	project_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_apps_hlc ON apps (hlc);
CREATE INDEX ix_apps_project_id ON apps (project_id);

CREATE TABLE config_versions (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	version INTEGER NOT NULL, 
	values_json VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_config_versions_env_id ON config_versions (env_id);
CREATE INDEX ix_config_versions_hlc ON config_versions (hlc);

CREATE TABLE env_changes (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	release_id VARCHAR NOT NULL, 
	previous_release_id VARCHAR, 
	at FLOAT NOT NULL, 
	"by" VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_env_changes_env_id ON env_changes (env_id);
CREATE INDEX ix_env_changes_hlc ON env_changes (hlc);

CREATE TABLE envs (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	app_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	current_release_id VARCHAR, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_envs_app_id ON envs (app_id);
CREATE INDEX ix_envs_hlc ON envs (hlc);

CREATE TABLE events (
	seq INTEGER NOT NULL, 
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	at FLOAT NOT NULL, 
	env_id VARCHAR NOT NULL, 
	release_id VARCHAR, 
	workload VARCHAR, 
	instance_id VARCHAR, 
	step VARCHAR NOT NULL, 
	outcome VARCHAR NOT NULL, 
	category VARCHAR, 
	message VARCHAR NOT NULL, 
	actor VARCHAR, 
	PRIMARY KEY (seq)
);
CREATE INDEX ix_events_at ON events (at);
CREATE INDEX ix_events_env_id ON events (env_id);
CREATE UNIQUE INDEX ix_events_id ON events (id);
CREATE INDEX ix_events_release_id ON events (release_id);

CREATE TABLE instances (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	workload VARCHAR NOT NULL, 
	release_id VARCHAR NOT NULL, 
	spec_hash VARCHAR NOT NULL, 
	container_id VARCHAR, 
	state VARCHAR NOT NULL, 
	health VARCHAR NOT NULL, 
	restarts INTEGER NOT NULL, 
	exit_code INTEGER, 
	started_at FLOAT, 
	updated_at FLOAT NOT NULL, 
	ports_json VARCHAR NOT NULL, 
	reason VARCHAR, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_instances_env_id ON instances (env_id);
CREATE INDEX ix_instances_hlc ON instances (hlc);

CREATE TABLE meta (
	"key" VARCHAR NOT NULL, 
	value VARCHAR NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE orgs (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	name VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_orgs_hlc ON orgs (hlc);
CREATE INDEX ix_orgs_name ON orgs (name);

CREATE TABLE projects (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	org_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_projects_hlc ON projects (hlc);
CREATE INDEX ix_projects_org_id ON projects (org_id);

CREATE TABLE release_states (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	release_id VARCHAR NOT NULL, 
	host_id VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	step VARCHAR, 
	category VARCHAR, 
	message VARCHAR, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_release_states_hlc ON release_states (hlc);
CREATE INDEX ix_release_states_release_id ON release_states (release_id);

CREATE TABLE releases (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	seq INTEGER NOT NULL, 
	manifest_json VARCHAR NOT NULL, 
	images_json VARCHAR NOT NULL, 
	config_version_id VARCHAR, 
	secret_versions_json VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_releases_env_id ON releases (env_id);
CREATE INDEX ix_releases_hlc ON releases (hlc);

CREATE TABLE scales (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	workload VARCHAR NOT NULL, 
	count INTEGER, 
	cpu FLOAT, 
	memory INTEGER, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_scales_env_id ON scales (env_id);
CREATE INDEX ix_scales_hlc ON scales (hlc);

CREATE TABLE secret_bundles (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_secret_bundles_env_id ON secret_bundles (env_id);
CREATE INDEX ix_secret_bundles_hlc ON secret_bundles (hlc);

CREATE TABLE secret_versions (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	bundle_id VARCHAR NOT NULL, 
	version INTEGER NOT NULL, 
	ciphertext BLOB NOT NULL, 
	keys_json VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_secret_versions_bundle_id ON secret_versions (bundle_id);
CREATE INDEX ix_secret_versions_hlc ON secret_versions (hlc);

CREATE TABLE tokens (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	token_hash VARCHAR NOT NULL, 
	hint VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	org_id VARCHAR, 
	role VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_tokens_hlc ON tokens (hlc);
CREATE INDEX ix_tokens_org_id ON tokens (org_id);
CREATE INDEX ix_tokens_token_hash ON tokens (token_hash);
