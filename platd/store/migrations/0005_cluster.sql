-- Cluster membership as replicated rows (liveness comes from gossip, not from here), and
-- single-use join tokens whose secret is sealed with the cluster's secret key.
CREATE TABLE hosts (
	id VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	origin VARCHAR NOT NULL,
	deleted BOOLEAN NOT NULL,
	name VARCHAR NOT NULL,
	api VARCHAR NOT NULL,
	gossip VARCHAR NOT NULL,
	region VARCHAR NOT NULL,
	labels_json VARCHAR NOT NULL,
	cpus FLOAT NOT NULL,
	memory INTEGER NOT NULL,
	joined_at FLOAT NOT NULL,
	cordoned BOOLEAN NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_hosts_hlc ON hosts (hlc);
CREATE INDEX ix_hosts_origin_hlc ON hosts (origin, hlc);
CREATE TABLE join_tokens (
	id VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	origin VARCHAR NOT NULL,
	deleted BOOLEAN NOT NULL,
	sealed_secret BLOB NOT NULL,
	expires_at FLOAT NOT NULL,
	created_at FLOAT NOT NULL,
	created_by VARCHAR NOT NULL,
	used_by VARCHAR,
	PRIMARY KEY (id)
);
CREATE INDEX ix_join_tokens_hlc ON join_tokens (hlc);
CREATE INDEX ix_join_tokens_origin_hlc ON join_tokens (origin, hlc);
