//! The Kommo API v4 client and the parser of Kommo webhooks.
