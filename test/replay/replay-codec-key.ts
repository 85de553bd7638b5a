/**
 * The payload-encryption key the committed replay histories were recorded with. TEST-ONLY: it
 * protects nothing (the fixtures hold made-up patients), it is committed so the histories can be
 * decoded on any machine, and it must never be configured as LABLOOP_CODEC_KEYS anywhere real.
 */
export const REPLAY_CODEC_KEYS = 'replay-fixtures-1:pIzyNOzNwUvpC7UXBeDtF06C+VP/pYabJBiODFVdIwA=';
