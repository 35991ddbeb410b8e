// Entry point of the supplier port: the factory plus everything callers need.
import { AliyunAdapter } from './aliyun.ts';
import { TencentAdapter } from './tencent.ts';
import type { SupplierAccount as ConfigSupplierAccount } from '../../platform/config/index.ts';
import type { SupplierAccount, SupplierAdapter } from './types.ts';

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
export * from '../../platform/suppliers/pushes.ts';

/** The one place where a configured account (platform/config) becomes the adapters' account. */
export function fromConfigAccount(a: ConfigSupplierAccount): SupplierAccount {
  return {
    id: a.id,
    vendor: a.vendor,
    endpoint: a.endpoint,
    accessKeyId: a.accessKeyId,
    accessKeySecret: a.accessKeySecret,
    signName: a.signName,
    ...(a.smsSdkAppId !== undefined ? { appId: a.smsSdkAppId } : {}),
    region: a.region,
    weight: a.weight,
    throughputPerSecond: a.maxPerSecond,
    timeoutMs: a.timeoutMs,
    webhookSecret: a.webhookSecret,
  };
}

function isConfigAccount(a: SupplierAccount | ConfigSupplierAccount): a is ConfigSupplierAccount {
  return 'maxPerSecond' in a;
}

/** An adapter for an account as configured (STREAMING_SUPPLIERS) or in the adapters' own shape. */
export function createSupplierAdapter(
  input: SupplierAccount | ConfigSupplierAccount,
): SupplierAdapter {
  const account = isConfigAccount(input) ? fromConfigAccount(input) : input;
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
