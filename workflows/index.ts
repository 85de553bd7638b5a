export { labResultWorkflow } from './lab-result-workflow';
export { athenaChangedFeedPollWorkflow, athenaLabResultEventWorkflow } from './athena-ingest';
