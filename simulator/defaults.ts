// The simulator's accounts when none are given: the same credentials as the
// two default supplier accounts of streaming's configuration (sim-aliyun and
// sim-tencent in platform/config/definitions.ts, which the simulator may not
// import), pushing receipts and inbound SMS to the command service's webhooks.
import type { AccountSpec } from './admin.ts';

export function defaultAccounts(
  webhookBase = `http://127.0.0.1:${process.env.STREAMING_COMMAND_PORT ?? '8080'}/v1/webhooks`,
): AccountSpec[] {
  const aliyunSecret = 'sim-aliyun-webhook-secret';
  const tencentSecret = 'sim-tencent-webhook-secret';
  return [
    {
      id: 'sim-aliyun',
      vendor: 'aliyun',
      accessKeyId: 'sim-aliyun-access-key-id',
      accessKeySecret: 'sim-aliyun-access-key-secret',
      signName: 'streaming',
      receiptUrl: `${webhookBase}/aliyun/receipts?token=${aliyunSecret}`,
      inboundUrl: `${webhookBase}/aliyun/inbound?token=${aliyunSecret}`,
    },
    {
      id: 'sim-tencent',
      vendor: 'tencent',
      accessKeyId: 'sim-tencent-secret-id',
      accessKeySecret: 'sim-tencent-secret-key',
      appId: '1400000000',
      signName: 'streaming',
      receiptUrl: `${webhookBase}/tencent/receipts?token=${tencentSecret}`,
      inboundUrl: `${webhookBase}/tencent/inbound?token=${tencentSecret}`,
    },
  ];
}
