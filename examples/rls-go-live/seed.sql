-- The application's table before the go-live: two tenants' customers,
-- owned by the role that runs the migrations.
CREATE ROLE app_owner;
CREATE TABLE customers (
    id integer PRIMARY KEY,
    tenant_id uuid NOT NULL,
    name text NOT NULL
);
ALTER TABLE customers OWNER TO app_owner;
INSERT INTO customers VALUES
    (1, '00000000-0000-0000-0000-00000000000a', 'Acme North'),
    (2, '00000000-0000-0000-0000-00000000000a', 'Acme South'),
    (3, '00000000-0000-0000-0000-00000000000b', 'Globex');
