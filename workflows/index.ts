export { labResultWorkflow } from './lab-result-workflow';
