export { ComposeError, type Pos } from './errors.js';
export { loadCompose, convertStack, renderConfig, specsToJSON, type Loaded, type StackSpecs } from './load.js';
export { NAMESPACE_LABEL, IMAGE_LABEL } from './convert/common.js';
export { interpolateString } from './interpolate.js';
