import type { FastifyPluginAsync } from 'fastify';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getStatusQuery, LAB_RESULT_WORKFLOW_ID_PATTERN } from '../../workflows/definitions';
import { refuseOutsidePractice, type MachineAuthHook } from '../auth/machine-token';

/** The practice a lab-result workflow ID names (`lab-result-{practice}-{digest}`; the digest has no '-'). */
function practiceOfWorkflowId(workflowId: string): string {
  return workflowId.slice('lab-result-'.length, workflowId.lastIndexOf('-'));
}

/**
 * `GET /v1/results/:workflowId`: the workflow's own answer (a query), no PHI. The token's sender
 * needs the `status` operation and the result's practice (from the workflow ID) in its scope.
 */
export function resultRoutes(deps: { temporal: Client; requireMachineToken: MachineAuthHook }): FastifyPluginAsync {
  return async (app) => {
    app.withTypeProvider<ZodTypeProvider>().get(
      '/v1/results/:workflowId',
      {
        preHandler: deps.requireMachineToken,
        schema: {
          params: z.object({
            workflowId: z.string().regex(LAB_RESULT_WORKFLOW_ID_PATTERN, 'is not a labloop workflow ID'),
          }),
        },
      },
      async (request, reply) => {
        const practiceId = practiceOfWorkflowId(request.params.workflowId);
        if (await refuseOutsidePractice(request, reply, practiceId, 'workflowId')) return reply;
        try {
          const status = await deps.temporal.workflow.getHandle(request.params.workflowId).query(getStatusQuery);
          return await reply.send(status);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) {
            return reply.code(404).send({ error: 'Not Found', message: 'no lab-result workflow with that ID' });
          }
          throw err;
        }
      },
    );
  };
}
