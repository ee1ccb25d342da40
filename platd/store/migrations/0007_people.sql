-- People: users (argon2id passwords), their org memberships, single-use invites (the setup
-- link and org invites, stored hashed), and tokens that belong to a user and expire.
ALTER TABLE tokens ADD COLUMN user_id VARCHAR;
ALTER TABLE tokens ADD COLUMN expires_at FLOAT;
CREATE INDEX ix_tokens_user_id ON tokens (user_id);
CREATE TABLE users (
	id VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	origin VARCHAR NOT NULL,
	deleted BOOLEAN NOT NULL,
	name VARCHAR NOT NULL,
	password_hash VARCHAR NOT NULL,
	admin BOOLEAN NOT NULL,
	created_at FLOAT NOT NULL,
	created_by VARCHAR NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_users_hlc ON users (hlc);
CREATE INDEX ix_users_name ON users (name);
CREATE INDEX ix_users_origin_hlc ON users (origin, hlc);
CREATE TABLE memberships (
	id VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	origin VARCHAR NOT NULL,
	deleted BOOLEAN NOT NULL,
	user_id VARCHAR NOT NULL,
	org_id VARCHAR NOT NULL,
	role VARCHAR NOT NULL,
	created_at FLOAT NOT NULL,
	created_by VARCHAR NOT NULL,
	updated_at FLOAT NOT NULL,
	PRIMARY KEY (id)
);
CREATE INDEX ix_memberships_hlc ON memberships (hlc);
CREATE INDEX ix_memberships_user_id ON memberships (user_id);
CREATE INDEX ix_memberships_org_id ON memberships (org_id);
CREATE INDEX ix_memberships_origin_hlc ON memberships (origin, hlc);
CREATE TABLE invites (
	id VARCHAR NOT NULL,
	hlc INTEGER NOT NULL,
	origin VARCHAR NOT NULL,
	deleted BOOLEAN NOT NULL,
	code_hash VARCHAR NOT NULL,
	kind VARCHAR NOT NULL,
	name VARCHAR,
	org_id VARCHAR,
	role VARCHAR NOT NULL,
	expires_at FLOAT NOT NULL,
	created_at FLOAT NOT NULL,
	created_by VARCHAR NOT NULL,
	used_by VARCHAR,
	PRIMARY KEY (id)
);
CREATE INDEX ix_invites_hlc ON invites (hlc);
CREATE INDEX ix_invites_code_hash ON invites (code_hash);
CREATE INDEX ix_invites_origin_hlc ON invites (origin, hlc);
