// Entry point of the supplier port: the factory plus everything callers need.
import { AliyunAdapter } from './aliyun.ts';
import { TencentAdapter } from './tencent.ts';
import type { ReviewApi, SupplierAccount, SupplierAdapter } from './types.ts';

export type {
  QueryOutcome,
  QueryRequest,
  ReviewApi,
  ReviewOutcome,
  SubmitOutcome,
  TemplateApplication,
  SendOutcome,
  SendRequest,
  SupplierAccount,
  SupplierAdapter,
} from './types.ts';
export * from './pushes.ts';

/** An adapter for an account as configured (STREAMING_SUPPLIERS). */
export function createSupplierAdapter(account: SupplierAccount): SupplierAdapter & ReviewApi {
  switch (account.vendor) {
    case 'aliyun':
      return new AliyunAdapter(account);
    case 'tencent':
      return new TencentAdapter(account);
    default: {
      const vendor: never = account.vendor;
      throw new Error(`unsupported vendor ${String(vendor)}`);
    }
  }
}
