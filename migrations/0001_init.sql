-- MAD schema, version 1.
--
-- Tenancy: every tenant table carries org_id, an index leading with it, and
-- a forced row-level-security policy on the per-transaction setting
-- app.org_id (set with set_config(..., true), so it never outlives the
-- transaction on a pooled connection). Tables holding both org rows and
-- org-less rows (root users, their tokens, global audit entries) compare
-- with IS NOT DISTINCT FROM: the org-less context sees only org-less rows.
--
-- The application connects as a member of the NOLOGIN role mad_app, which
-- owns nothing and has no BYPASSRLS; this file runs as the owner.

CREATE TABLE orgs (
    id                uuid PRIMARY KEY,
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status            text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    max_active_jobs   integer NOT NULL CHECK (max_active_jobs >= 0),
    max_storage_bytes bigint NOT NULL CHECK (max_storage_bytes >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX orgs_name_key ON orgs (lower(name));

CREATE TABLE users (
    id                uuid PRIMARY KEY,
    org_id            uuid REFERENCES orgs (id),
    email             text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash     text NOT NULL,
    roles             text[] NOT NULL CHECK (cardinality(roles) > 0
                          AND roles <@ ARRAY['viewer', 'standard', 'operator', 'admin', 'root']),
    enabled           boolean NOT NULL DEFAULT true,
    tokens_not_before timestamptz NOT NULL DEFAULT 'epoch',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- root users belong to no org, and an org user is never root
    CONSTRAINT users_root_has_no_org CHECK ((org_id IS NULL) = ('root' = ANY (roles)))
);
CREATE UNIQUE INDEX users_org_email_key ON users (org_id, email) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX users_root_email_key ON users (email) WHERE org_id IS NULL;

CREATE TABLE service_accounts (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    client_id   text NOT NULL UNIQUE,
    secret_hash text NOT NULL,
    roles       text[] NOT NULL CHECK (cardinality(roles) > 0
                    AND roles <@ ARRAY['viewer', 'standard', 'operator']),
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX service_accounts_org_idx ON service_accounts (org_id, id);

-- credential_directory answers "which org holds this login?" before any org
-- context exists (login by email without org_id, client credentials). It
-- holds pointers only, no secrets, and is written by the triggers below,
-- never by the application directly.
CREATE TABLE credential_directory (
    kind       text NOT NULL CHECK (kind IN ('email', 'client_id')),
    login      text NOT NULL,
    org_id     uuid,
    subject_id uuid NOT NULL,
    PRIMARY KEY (kind, login, subject_id)
);

CREATE FUNCTION sync_user_directory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM credential_directory WHERE kind = 'email' AND subject_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO credential_directory (kind, login, org_id, subject_id)
        VALUES ('email', NEW.email, NEW.org_id, NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER users_directory AFTER INSERT OR DELETE OR UPDATE OF email, org_id ON users
    FOR EACH ROW EXECUTE FUNCTION sync_user_directory();

CREATE FUNCTION sync_service_account_directory() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM credential_directory WHERE kind = 'client_id' AND subject_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        INSERT INTO credential_directory (kind, login, org_id, subject_id)
        VALUES ('client_id', NEW.client_id, NEW.org_id, NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER service_accounts_directory AFTER INSERT OR DELETE OR UPDATE ON service_accounts
    FOR EACH ROW EXECUTE FUNCTION sync_service_account_directory();

-- Refresh tokens form families (one per login); a spent token presented
-- again revokes its family. org_id is the subject's home org (NULL for root).
CREATE TABLE refresh_tokens (
    jti          uuid PRIMARY KEY,
    org_id       uuid REFERENCES orgs (id),
    subject_id   uuid NOT NULL,
    family_id    uuid NOT NULL,
    parent_jti   uuid,
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    spent_at     timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_org_family_idx ON refresh_tokens (org_id, family_id);
CREATE INDEX refresh_tokens_org_subject_idx ON refresh_tokens (org_id, subject_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Access tokens revoked by logout, kept until they would have expired.
-- Keyed by (org, jti): a row of one org can never turn another org's
-- revocation of the same jti into a no-op.
CREATE TABLE revoked_access_tokens (
    jti        uuid NOT NULL,
    org_id     uuid REFERENCES orgs (id),
    subject_id uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT revoked_access_tokens_org_jti_key UNIQUE NULLS NOT DISTINCT (org_id, jti)
);
CREATE INDEX revoked_access_tokens_org_idx ON revoked_access_tokens (org_id, expires_at);

-- Failed logins per email (hashed), for throttling across Lambda containers.
-- Global: an unknown email has no org.
CREATE TABLE login_failures (
    email_key    text NOT NULL,
    attempted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_idx ON login_failures (email_key, attempted_at);

CREATE TABLE molecules (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 800),
    format      text NOT NULL CHECK (format IN ('pdb', 'pdbqt', 'sdf', 'mol2', 'smi')),
    size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX molecules_org_idx ON molecules (org_id, id);

CREATE TABLE uploads (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL,
    format      text NOT NULL CHECK (format IN ('pdb', 'pdbqt', 'sdf', 'mol2', 'smi')),
    size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'rejected')),
    run         jsonb,
    molecule_id uuid,
    job_id      uuid,
    error       text,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX uploads_org_idx ON uploads (org_id, id);
CREATE INDEX uploads_org_pending_idx ON uploads (org_id) WHERE status = 'pending';

-- Pipelines: built-in ones have no org and are visible to every org.
-- Published versions are immutable (no UPDATE grant, and a trigger).
CREATE TABLE pipelines (
    id            uuid PRIMARY KEY,
    org_id        uuid REFERENCES orgs (id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    engine        text NOT NULL CHECK (engine IN ('vina')),
    version       text NOT NULL,
    params_schema jsonb NOT NULL,
    defaults      jsonb NOT NULL DEFAULT '{}',
    created_by    uuid,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX pipelines_org_name_version_key ON pipelines (org_id, name, version) WHERE org_id IS NOT NULL;
CREATE UNIQUE INDEX pipelines_builtin_name_version_key ON pipelines (name, version) WHERE org_id IS NULL;

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER pipelines_immutable BEFORE UPDATE ON pipelines
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id),
    pipeline_id      uuid NOT NULL REFERENCES pipelines (id),
    pipeline_version text NOT NULL,
    receptor_id      uuid NOT NULL,
    ligand_id        uuid NOT NULL,
    params           jsonb NOT NULL,
    input_signature  text NOT NULL,
    status           text NOT NULL CHECK (status IN ('PENDING', 'QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    error            text,
    cache_hit        boolean NOT NULL DEFAULT false,
    canonical_job_id uuid
);
CREATE INDEX jobs_org_idx ON jobs (org_id, id);
CREATE INDEX jobs_org_status_idx ON jobs (org_id, status, id);
CREATE INDEX jobs_org_active_idx ON jobs (org_id) WHERE status IN ('PENDING', 'QUEUED', 'RUNNING');

CREATE TABLE job_events (
    org_id uuid NOT NULL,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq    integer NOT NULL,
    ts     timestamptz NOT NULL,
    event  text NOT NULL CHECK (event IN ('CREATED', 'QUEUED', 'STARTED', 'RETRY', 'TASK_COMPLETED',
                                          'COMPLETED', 'FAILED', 'CANCELLED')),
    detail jsonb,
    PRIMARY KEY (org_id, job_id, seq)
);

-- One result set per job: the primary key makes "completed exactly once"
-- a database fact, not a hope.
CREATE TABLE job_results (
    org_id         uuid NOT NULL,
    job_id         uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    engine_version text NOT NULL,
    scores         jsonb NOT NULL,
    task_results   jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, job_id)
);

CREATE TABLE artifacts (
    org_id       uuid NOT NULL,
    job_id       uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (name IN ('poses.pdbqt', 'poses.sdf', 'vina.log', 'result.json')),
    object_key   text NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       text NOT NULL,
    content_type text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, job_id, name)
);

CREATE TABLE result_cache (
    org_id          uuid NOT NULL,
    input_signature text NOT NULL,
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, input_signature)
);

CREATE TABLE idempotency_keys (
    org_id          uuid NOT NULL,
    subject_id      uuid NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    job_id          uuid NOT NULL,
    response_status integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, subject_id, key)
);

-- Transactional outbox: a job row and its outbox row commit together. The
-- row is marked sent once the message is on the queue and deleted when the
-- engine claims the job, so the sweeper can send what a crash left unsent
-- and resend a message that was lost. Ids only, no tenant data.
CREATE TABLE job_outbox (
    job_id     uuid PRIMARY KEY,
    org_id     uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   integer NOT NULL DEFAULT 0
);
CREATE INDEX job_outbox_unsent_idx ON job_outbox (created_at) WHERE sent_at IS NULL;
CREATE INDEX job_outbox_sent_idx ON job_outbox (sent_at) WHERE sent_at IS NOT NULL;

CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT now(),
    org_id      uuid REFERENCES orgs (id),
    actor_id    text NOT NULL,
    actor_type  text NOT NULL CHECK (actor_type IN ('user', 'service_account', 'system', 'anonymous')),
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    job_id      uuid,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure')),
    request_id  text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_org_idx ON audit_log (org_id, id DESC);
CREATE INDEX audit_log_org_action_idx ON audit_log (org_id, action, id DESC);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Row-level security.
DO $$
DECLARE
    t text;
BEGIN
    -- strictly one org per row
    FOREACH t IN ARRAY ARRAY['service_accounts', 'molecules', 'uploads', 'jobs', 'job_events',
                             'job_results', 'artifacts', 'result_cache', 'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)
            WITH CHECK (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)$p$, t);
    END LOOP;
    -- org rows or org-less rows, never both in one context
    FOREACH t IN ARRAY ARRAY['users', 'refresh_tokens', 'revoked_access_tokens', 'audit_log'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (org_id IS NOT DISTINCT FROM NULLIF(current_setting('app.org_id', true), '')::uuid)
            WITH CHECK (org_id IS NOT DISTINCT FROM NULLIF(current_setting('app.org_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- Pipelines: built-ins (no org) are readable by every org; only the org
-- itself can add its own.
ALTER TABLE pipelines ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON pipelines
    USING (org_id IS NULL OR org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)
    WITH CHECK (org_id = NULLIF(current_setting('app.org_id', true), '')::uuid);
-- FORCE comes after the built-in pipeline is seeded (0002).

-- Grants to the application role. No table is owned by it; audit_log and
-- pipelines get no UPDATE or DELETE.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO mad_app;
GRANT SELECT, INSERT, UPDATE ON orgs TO mad_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, service_accounts, refresh_tokens, revoked_access_tokens,
    login_failures, molecules, uploads, jobs, job_events, job_results, artifacts, result_cache,
    idempotency_keys, job_outbox TO mad_app;
GRANT SELECT ON credential_directory TO mad_app;
GRANT SELECT, INSERT ON pipelines TO mad_app;
GRANT SELECT, INSERT ON audit_log TO mad_app;
