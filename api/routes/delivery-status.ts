/**
 * Delivery-status handling shared by the Twilio and Spruce webhook routes. The implementation lives
 * with the outbox (activities/delivery-reports.ts), because the worker replays parked reports too.
 */
export {
  auditAndSignalDeliveryStatus,
  parkUnmatchedDelivery,
  replayUnmatchedDeliveries,
  type DeliveryReportDeps as DeliveryStatusDeps,
  type DeliveryStatusReport,
} from '../../activities/delivery-reports';
