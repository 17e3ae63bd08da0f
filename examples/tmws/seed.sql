-- The TMWS database as Alembic left it at revision e674ec434eeb: the
-- application's tables, created exactly as that revision's `up` creates
-- them (manifests/migrations/e674ec434eeb.yaml, SQLite form), some rows,
-- and Alembic's own version table.  `sqlite3 tmws.db < seed.sql`.
PRAGMA foreign_keys = ON;
BEGIN;

CREATE TABLE agents (
    id INTEGER PRIMARY KEY,
    agent_id TEXT UNIQUE NOT NULL,
    display_name TEXT,
    tier TEXT NOT NULL DEFAULT 'free',
    created_at TEXT
);
CREATE TABLE memories (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (agent_id),
    content TEXT NOT NULL,
    created_at TEXT
);
CREATE INDEX ix_memories_agent_id ON memories (agent_id);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (agent_id),
    title TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    created_at TEXT
);
CREATE INDEX ix_tasks_agent_id ON tasks (agent_id);

-- One name with a quote, one with letters outside ASCII: the data must
-- come back byte for byte after the upgrade and the rollback.
INSERT INTO agents (id, agent_id, display_name, tier, created_at) VALUES
    (1, 'admin-agent-id', 'Platform Administrator', 'enterprise', '2026-01-05T09:12:44Z'),
    (2, 'research-7f3a', 'Research Assistant', 'pro', '2026-02-17T14:03:10Z'),
    (3, 'support-bot', 'O''Connor Support Desk', 'pro', '2026-03-02T08:45:00Z'),
    (4, 'translator-zoe', 'Zoë Łukasiewicz — Übersetzerin', 'free', '2026-06-21T19:30:27Z'),
    (5, 'ci-bot', 'CI pipeline (acme)', 'free', '2026-09-11T06:00:00Z');

INSERT INTO memories (id, agent_id, content, created_at) VALUES
    (1, 'admin-agent-id', 'Rotate the signing key before the end of the quarter.', '2026-01-06T10:00:00Z'),
    (2, 'admin-agent-id', 'Enterprise tier requires a signed order form.', '2026-04-14T16:20:05Z'),
    (3, 'research-7f3a', 'User prefers summaries under 200 words.', '2026-02-18T09:41:33Z'),
    (4, 'research-7f3a', 'Citations: use DOI links when available.', '2026-05-09T11:02:48Z'),
    (5, 'support-bot', 'Customer said: "it''s the third time the key was rejected"', '2026-03-03T13:15:00Z'),
    (6, 'support-bot', 'Escalate billing questions to finance@example.com.', '2026-07-30T07:55:12Z'),
    (7, 'translator-zoe', 'Glossar: „Lizenzschlüssel“ = license key; „Nutzung“ = usage.', '2026-06-22T08:10:00Z'),
    (8, 'ci-bot', 'Nightly build for tenant acme runs at 02:00 UTC.', '2026-09-11T06:05:00Z');

INSERT INTO tasks (id, agent_id, title, status, created_at) VALUES
    (1, 'admin-agent-id', 'Audit license usage for Q3', 'done', '2026-10-01T09:00:00Z'),
    (2, 'research-7f3a', 'Survey RBAC models for multi-tenant SaaS', 'running', '2026-10-12T15:30:00Z'),
    (3, 'support-bot', 'Answer ticket #4411 (key rejected)', 'pending', '2026-11-22T23:48:00Z'),
    (4, 'translator-zoe', 'Übersetzung der Lizenzbedingungen prüfen', 'pending', '2026-11-02T10:00:00Z'),
    (5, 'ci-bot', 'Publish build 2026.11.3 for acme', 'failed', '2026-11-20T02:00:00Z'),
    (6, 'ci-bot', 'Retry build 2026.11.3 for acme', 'done', '2026-11-20T02:17:41Z');

-- What Alembic creates and keeps: one row, the current revision.
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('e674ec434eeb');

COMMIT;
