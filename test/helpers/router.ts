export * from '../../controller/lab/router.js';
