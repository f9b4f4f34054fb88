// A small client of both Hub APIs, written against the types that openapi-typescript generates from
// /api/v1/openapi.json and /api/platform/v1/openapi.json (src/generated/, not committed). It is only
// type-checked (tsc --noEmit --strict): if the documents stop describing what a client needs (a
// required header, typed error codes, request bodies), this file stops compiling.
import createClient from "openapi-fetch";

import type { components as PlatformComponents, paths as PlatformPaths } from "./generated/platform";
import type { components, paths } from "./generated/tenant";

type Schemas = components["schemas"];

export const tenant = createClient<paths>({ baseUrl: "http://acme.localhost:8000" });
export const platform = createClient<PlatformPaths>({ baseUrl: "http://localhost:8000" });

// Error codes are enums: a client can switch on them, and a code the API never answers is a type error.
export function ledgerErrorMessage(error: Schemas["LedgerError"]): string {
  switch (error.code) {
    case "idempotency_key_required":
      return "retry with an Idempotency-Key";
    case "idempotency_key_reused":
      return "this key was used with another body";
    case "validation_error":
      return (error.errors ?? []).map((item) => `${item.loc.join(".")}: ${item.msg}`).join("; ");
    default:
      return error.detail;
  }
}

export function isUnknownCode(error: Schemas["EntityError"]): boolean {
  // @ts-expect-error "no_such_code" is not one of the entities' or the Hub's codes.
  return error.code === "no_such_code";
}

export async function firstEntities(kind: string): Promise<Schemas["EntityOut"][]> {
  const { data, error } = await tenant.GET("/api/v1/entities/", { params: { query: { kind, limit: 10 } } });
  if (error) {
    throw new Error(`${error.code}: ${error.detail}`);
  }
  return data.items;
}

export async function entityCreate(body: Schemas["EntityIn"]): Promise<string> {
  const { data, error } = await tenant.POST("/api/v1/entities/", { body });
  if (error) {
    throw new Error(error.code);
  }
  return data.id;
}

export async function transfer(key: string, from: string, to: string, amount: string): Promise<string> {
  const body: Schemas["TransactionIn"] = {
    description: "transfer",
    currency: "EUR",
    postings: [
      { account_id: from, amount: `-${amount}` },
      { account_id: to, amount },
    ],
  };
  const { data, error } = await tenant.POST("/api/v1/transactions/", {
    params: { header: { "Idempotency-Key": key } },
    body,
  });
  if (error) {
    throw new Error(ledgerErrorMessage(error));
  }
  return data.id;
}

export async function transferWithoutKey(body: Schemas["TransactionIn"]): Promise<unknown> {
  // @ts-expect-error the ledger requires an Idempotency-Key header: the document says so.
  return tenant.POST("/api/v1/transactions/", { body });
}

export async function bookingCancel(bookingId: string): Promise<Schemas["BookingOut"] | undefined> {
  const { data } = await tenant.POST("/api/v1/scheduling/bookings/{booking_id}/cancel", {
    params: { path: { booking_id: bookingId }, query: { scope: "following" } },
  });
  return data;
}

export async function me(): Promise<string[]> {
  const { data } = await tenant.GET("/api/v1/me");
  return data?.roles ?? [];
}

export async function provision(
  organizationId: string,
  slug: string,
): Promise<PlatformComponents["schemas"]["TenantOut"]> {
  const { data, error } = await platform.POST("/api/platform/v1/tenants", {
    body: { organization_id: organizationId, slug, name: slug, skip_identity_check: true },
  });
  if (error) {
    throw new Error(`${error.code}: ${error.detail}`);
  }
  return data;
}

export async function tenantDelete(organizationId: string): Promise<void> {
  await platform.DELETE("/api/platform/v1/tenants/{organization_id}", {
    params: { path: { organization_id: organizationId }, query: { confirm: organizationId } },
  });
}
