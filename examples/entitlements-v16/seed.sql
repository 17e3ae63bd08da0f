-- The application before v1.6: each organisation keeps the modules it may
-- use in a JSON array, written by the application itself.
CREATE TABLE organizations (
  id INTEGER PRIMARY KEY,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  plan TEXT,
  enabled_modules TEXT NOT NULL DEFAULT '[]'
);

INSERT INTO organizations (slug, name, plan, enabled_modules) VALUES
  ('acme', 'Acme Corp', 'pro',
   '["email", "dashboard", "crm", "crm.leads", "crm.campaigns", "inventory"]'),
  ('globex', 'Globex', 'starter',
   '["email", "dashboard", "crm", "crm.leads", "crm.campaigns", "inventory"]'),
  ('hooli', 'Hooli', 'starter',
   '["email", "dashboard", "crm", "crm.leads", "crm.campaigns"]'),
  ('initech', 'Initech', 'pro',
   '["email", "dashboard", "crm", "crm.leads", "inventory"]'),
  ('stark', 'Stark Industries', NULL,
   '["email", "dashboard", "analytics"]'),
  ('umbrella', 'Umbrella', 'enterprise',
   '["email", "dashboard", "crm", "crm.leads", "crm.campaigns", "inventory", "billing", "billing.invoices", "billing.subscriptions", "analytics"]'),
  ('wayne', 'Wayne Enterprises', 'starter',
   '["email", "dashboard", "crm", "crm.leads", "crm.campaigns", "billing", "billing.invoices"]');
