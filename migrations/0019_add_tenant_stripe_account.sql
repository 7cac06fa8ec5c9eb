-- The Stripe connected account a tenant bills through (`acct_...`), sent as the Stripe-Account header on every
-- Stripe call made for the tenant; '' bills through the platform account of STRIPE_SECRET_KEY.
ALTER TABLE tenants {{on_cluster}} ADD COLUMN IF NOT EXISTS stripe_account String DEFAULT '' AFTER timezone;
