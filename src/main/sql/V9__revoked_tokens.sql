-- Tokens refused before they expire (lm-server token revoke), without rotating the signing key.
-- A row names one token (its jti) or a client: then every token of that client issued up to
-- and including the second of revoked_at is refused, and tokens minted later work again.
-- Checked on every request (lm.auth.Revocations, which rereads this table every few seconds).
CREATE TABLE lm.revoked_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti        text CHECK (length(btrim(jti)) BETWEEN 1 AND 255),
    client_id  text CHECK (length(btrim(client_id)) BETWEEN 1 AND 255),
    revoked_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((jti IS NULL) <> (client_id IS NULL))
);
