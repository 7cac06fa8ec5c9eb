-- What a mapping's Stripe meter expects, read from Stripe when the mapping is made: its aggregation formula
-- (`sum` or `last`; `count` meters are refused) and the payload keys meter events carry the customer and the value
-- under (customer_mapping.event_payload_key, value_settings.event_payload_key). Existing mappings were made for
-- Stripe's defaults. Each push intent keeps the keys it was planned with: a retry after the mapping moved to another
-- meter still sends what its meter reads.
ALTER TABLE price_mappings {{on_cluster}}
    ADD COLUMN IF NOT EXISTS formula LowCardinality(String) DEFAULT 'sum' AFTER event_name,
    ADD COLUMN IF NOT EXISTS customer_payload_key String DEFAULT 'stripe_customer_id' AFTER formula,
    ADD COLUMN IF NOT EXISTS value_payload_key String DEFAULT 'value' AFTER customer_payload_key;
ALTER TABLE push_log {{on_cluster}}
    ADD COLUMN IF NOT EXISTS customer_payload_key String DEFAULT 'stripe_customer_id' AFTER event_name,
    ADD COLUMN IF NOT EXISTS value_payload_key String DEFAULT 'value' AFTER customer_payload_key;
