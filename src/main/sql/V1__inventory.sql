-- Inventory: what licenses exist, where they are served, and which cluster uses them.
-- Invariants live here as constraints, not in Java: the API maps 23505/23503 to 409 and
-- 23514 to 422 (lm.http.SqlErrors), so a bad write is refused whole by PostgreSQL itself.


CREATE TABLE lm.configurations (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name              text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 255),
    cluster_client_id text NOT NULL CHECK (length(btrim(cluster_client_id)) BETWEEN 1 AND 255),
    -- seconds a booking stays active after its job started (the job should have checked out by then)
    grace_time        integer NOT NULL DEFAULT 60 CHECK (grace_time > 0),
    type              text NOT NULL CHECK (type IN ('flexlm', 'rlm', 'lsdyna', 'lmx', 'olicense', 'dsls')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- two clusters may both call their Abaqus configuration "abaqus"
    UNIQUE (cluster_client_id, name)
);

CREATE TABLE lm.license_servers (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    config_id bigint NOT NULL REFERENCES lm.configurations (id) ON DELETE CASCADE,
    host      text NOT NULL CHECK (length(btrim(host)) BETWEEN 1 AND 255 AND host !~ '\s'),
    port      integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    UNIQUE (config_id, host, port)
);
-- pools are found by server address across configurations (see lm.pool_members)
CREATE INDEX license_servers_address ON lm.license_servers (lower(host), port);

CREATE TABLE lm.products (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(btrim(name)) BETWEEN 1 AND 255 AND name !~ '[\s.]')
);

CREATE TABLE lm.features (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 255 AND name !~ '\s'),
    -- a product still used by features cannot be deleted (409), unlike a configuration,
    -- whose deletion takes its features with it
    product_id bigint NOT NULL REFERENCES lm.products (id) ON DELETE RESTRICT,
    config_id  bigint NOT NULL REFERENCES lm.configurations (id) ON DELETE CASCADE,
    -- kept for desktop users, never given to the cluster
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    -- as last reported by the license server (through lm-agent)
    total      bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
    used       bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    reported_at timestamptz,
    UNIQUE (config_id, product_id, name)
);
CREATE INDEX features_product ON lm.features (product_id, name);

CREATE TABLE lm.cluster_statuses (
    cluster_client_id text PRIMARY KEY CHECK (length(btrim(cluster_client_id)) BETWEEN 1 AND 255),
    interval          integer NOT NULL CHECK (interval > 0),
    last_reported     timestamptz NOT NULL DEFAULT now()
);

-- A job is created by the PrologSlurmctld when Slurm starts it, so created_at is the job's
-- start as far as grace time is concerned.
CREATE TABLE lm.jobs (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slurm_job_id      text NOT NULL CHECK (slurm_job_id ~ '^[0-9]{1,20}$'),
    cluster_client_id text NOT NULL CHECK (length(btrim(cluster_client_id)) BETWEEN 1 AND 255),
    username          text NOT NULL CHECK (length(btrim(username)) BETWEEN 1 AND 255),
    lead_host         text NOT NULL CHECK (length(btrim(lead_host)) BETWEEN 1 AND 255),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- a retried prolog must find the job it already booked, never a second one
    UNIQUE (cluster_client_id, slurm_job_id)
);

CREATE TABLE lm.bookings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint NOT NULL REFERENCES lm.jobs (id) ON DELETE CASCADE,
    feature_id  bigint NOT NULL REFERENCES lm.features (id) ON DELETE CASCADE,
    quantity    bigint NOT NULL CHECK (quantity > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- created_at + the configuration's grace_time: the job has started (the prolog booked it)
    -- and must have checked its licenses out by then, else the booking stops holding them
    expires_at  timestamptz NOT NULL,
    CHECK (expires_at > created_at),
    -- set when the booking stops counting: its grace time passed, or the license server
    -- showed the job's own checkout (then `used` counts it instead)
    released_at     timestamptz,
    released_reason text CHECK (released_reason IN ('grace', 'checkout')),
    CHECK ((released_at IS NULL) = (released_reason IS NULL)),
    UNIQUE (job_id, feature_id)
);
-- admission sums the active bookings of a pool on every call
CREATE INDEX bookings_active ON lm.bookings (feature_id) INCLUDE (quantity, expires_at) WHERE released_at IS NULL;
CREATE INDEX bookings_job ON lm.bookings (job_id);
