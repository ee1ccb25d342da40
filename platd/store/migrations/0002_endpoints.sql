-- 0002: endpoints (L4 ingress) and the bridge address of each instance, which ingress dials.

CREATE TABLE endpoints (
	id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	origin VARCHAR NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	env_id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	workload VARCHAR NOT NULL, 
	internal_port INTEGER NOT NULL, 
	external_ports_json VARCHAR NOT NULL, 
	protocol VARCHAR NOT NULL, 
	ipv6 BOOLEAN NOT NULL, 
	ipv4 BOOLEAN NOT NULL, 
	proxy_protocol VARCHAR, 
	ipv6_address VARCHAR, 
	ipv4_address VARCHAR, 
	host_id VARCHAR NOT NULL, 
	created_at FLOAT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_endpoints_env_id ON endpoints (env_id);
CREATE INDEX ix_endpoints_hlc ON endpoints (hlc);
ALTER TABLE instances ADD COLUMN ip VARCHAR;
