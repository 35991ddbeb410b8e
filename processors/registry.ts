// The configured supplier accounts and their adapters, by account id.
import type { SupplierAccount as ConfigAccount } from '../platform/config/index.ts';
import { createSupplierAdapter, type ReviewApi, type SupplierAdapter } from '../suppliers/index.ts';

export interface RegisteredSupplier {
  config: ConfigAccount;
  /** Every vendor's adapter sends and also submits reviews (signatures, templates). */
  adapter: SupplierAdapter & ReviewApi;
}

export class SupplierRegistry {
  private readonly byId = new Map<string, RegisteredSupplier>();
  readonly weights = new Map<string, number>();

  constructor(accounts: readonly ConfigAccount[]) {
    for (const config of accounts) {
      this.byId.set(config.id, { config, adapter: createSupplierAdapter(config) });
      this.weights.set(config.id, config.weight);
    }
  }

  get(id: string): RegisteredSupplier | undefined {
    return this.byId.get(id);
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }
}
