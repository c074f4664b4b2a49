-- A device's own values for the parameters of the services it is subscribed to (a stock
-- ticker's symbol, a weather service's city); without one, the parameter's default applies.
CREATE TABLE subscription_parameter (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES device (id) ON DELETE CASCADE,
    parameter_id TEXT NOT NULL REFERENCES ip_phone_service_parameter (id) ON DELETE CASCADE,
    value TEXT NOT NULL DEFAULT '',
    UNIQUE (device_id, parameter_id)
);
