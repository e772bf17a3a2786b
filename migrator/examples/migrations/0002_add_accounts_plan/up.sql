-- Every account is on a plan; existing accounts start on 'free'.
ALTER TABLE accounts
  ADD COLUMN plan text NOT NULL DEFAULT 'free'
  CONSTRAINT accounts_plan_check CHECK (plan IN ('free', 'pro', 'enterprise'));
