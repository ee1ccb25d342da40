-- 0003: sized volumes and their snapshots (docs/volumes.md). Independent of 0002, so the two
-- apply in either order (see migrate(): each number is applied once, whatever came first).

CREATE TABLE volumes (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	host_id VARCHAR NOT NULL, 
	region VARCHAR, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	source_snapshot_id VARCHAR, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_volumes_env_id ON volumes (env_id);
CREATE INDEX ix_volumes_hlc ON volumes (hlc);

CREATE TABLE volume_snapshots (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	volume_id VARCHAR NOT NULL, 
	seq INTEGER NOT NULL, 
	size INTEGER NOT NULL, 
	used INTEGER NOT NULL, 
	seconds FLOAT NOT NULL, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_volume_snapshots_volume_id ON volume_snapshots (volume_id);
CREATE INDEX ix_volume_snapshots_hlc ON volume_snapshots (hlc);
