// The MJML compiler thread starts from plain JavaScript: register tsx, then load the TypeScript body.
import { register } from 'tsx/esm/api';

register();
await import('./mjml-thread.ts');
