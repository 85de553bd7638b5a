/**
 * Twilio's REST error bodies as the fake produces them: `{ code, message, more_info, status }`
 * with the HTTP status Twilio uses for that code. Messages follow Twilio's wording but never echo
 * the phone number (Twilio's do; the fake has no reason to).
 */

export interface TwilioErrorBody {
  code: number;
  message: string;
  more_info: string;
  status: number;
}

const CATALOG: Record<number, { status: number; message: string }> = {
  20003: { status: 401, message: 'Authenticate' },
  20403: { status: 403, message: 'Forbidden' },
  20404: { status: 404, message: 'The requested resource was not found' },
  20429: { status: 429, message: 'Too Many Requests' },
  20500: { status: 500, message: 'Internal Server Error' },
  20503: { status: 503, message: 'Service Unavailable' },
  21211: { status: 400, message: "The 'To' number is not a valid phone number." },
  21212: {
    status: 400,
    message: "The 'From' number is not a valid phone number, shortcode, or alphanumeric sender ID.",
  },
  21408: {
    status: 400,
    message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
  },
  21602: { status: 400, message: 'Message body is required.' },
  21603: { status: 400, message: "A 'From' or 'MessagingServiceSid' parameter is required to send a message." },
  21604: { status: 400, message: "A 'To' phone number is required." },
  21606: {
    status: 400,
    message:
      "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
  },
  21609: { status: 400, message: 'Invalid StatusCallback url.' },
  21610: { status: 400, message: 'Attempt to send to unsubscribed recipient' },
  21612: {
    status: 400,
    message: "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.",
  },
  21614: { status: 400, message: "'To' number is not a valid mobile number" },
  21617: { status: 400, message: 'The concatenated message body exceeds the 1600 character limit.' },
  21701: { status: 400, message: 'The Messaging Service does not exist.' },
};

/** The error body and HTTP status for a Twilio error code. */
export function twilioError(code: number): TwilioErrorBody {
  const known = CATALOG[code] ?? { status: 400, message: 'Bad Request' };
  return {
    code,
    message: known.message,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status: known.status,
  };
}

/** Twilio's generic error for an HTTP status (20000 + status: 20500, 20503, 20429, …). */
export function twilioErrorForStatus(status: number): TwilioErrorBody {
  const code = 20000 + status;
  const known = CATALOG[code];
  return {
    code,
    message: known?.message ?? `HTTP ${status}`,
    more_info: `https://www.twilio.com/docs/errors/${code}`,
    status,
  };
}
