// Where async vendors post their answers. Three parts must agree on it: the api serves it
// (api/webhook.ts), its OpenAPI document describes it, and the workers hand it to vendors as
// their callback_url. One constant, so that none of them can drift from the others.

/** The route's prefix; the vendor's name is the next path segment. */
export const WEBHOOK_ROUTE = '/vendor-webhook';
