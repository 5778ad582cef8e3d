export * from './log/logger.js';
export * from './errors/errors.js';
export * from './pki/pki.js';
export * from './natsauth/natsauth.js';
export * from './grpc/credentials.js';
export * from './grpc/status.js';
export * from './config/client-config.js';
export * from './naming.js';
